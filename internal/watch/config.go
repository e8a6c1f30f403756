// Package watch reacts to one IAM event as it happens: the Lambda function behind an EventBridge
// rule on CreateAccessKey and CreateLoginProfile. It judges the user live with the same key check
// and rule as audit, then reports the finding to SNS, deactivates the key, or schedules a re-check
// after a grace period, re-checking right before every action and journalling each one.
package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/setupkeys/setupkeys/internal/rule"
)

// Actions a deployment can choose.
const (
	ActionReport     = "report"
	ActionDeactivate = "deactivate"
)

// Config is the function's configuration, from its environment.
type Config struct {
	// Action is report (default) or deactivate.
	Action string
	// TopicARN receives each finding (SETUPKEYS_TOPIC_ARN); optional in deactivate mode.
	TopicARN string
	// Window is the rule's setup window (SETUPKEYS_WINDOW, default 10m).
	Window time.Duration
	// Grace delays deactivation (SETUPKEYS_GRACE, default 0 = at once): the key is reported at
	// once and deactivated after Grace if it is still flagged then.
	Grace time.Duration
	// DedupeTable is the DynamoDB table that makes publishing and deactivating act once per event
	// (SETUPKEYS_DEDUPE_TABLE; required with a topic).
	DedupeTable string
	// SchedulerRoleARN is the role EventBridge Scheduler assumes to invoke the function again
	// after the grace (SETUPKEYS_SCHEDULER_ROLE_ARN; required when Grace > 0).
	SchedulerRoleARN string
	// ScheduleGroup holds the one-time schedules (SETUPKEYS_SCHEDULE_GROUP, default "default").
	ScheduleGroup string
}

// Environment variable names.
const (
	EnvAction        = "SETUPKEYS_ACTION"
	EnvTopicARN      = "SETUPKEYS_TOPIC_ARN"
	EnvWindow        = "SETUPKEYS_WINDOW"
	EnvGrace         = "SETUPKEYS_GRACE"
	EnvDedupeTable   = "SETUPKEYS_DEDUPE_TABLE"
	EnvSchedulerRole = "SETUPKEYS_SCHEDULER_ROLE_ARN"
	EnvScheduleGroup = "SETUPKEYS_SCHEDULE_GROUP"
)

// minGrace is EventBridge Scheduler's practical floor: a one-time schedule fires within a minute
// of its time.
const minGrace = time.Minute

// ConfigFromEnv reads and checks the configuration. A bad value is an error at start-up (the
// function's init fails, visibly), never a default silently used.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Action:           getenv(EnvAction),
		TopicARN:         getenv(EnvTopicARN),
		Window:           rule.DefaultWindow,
		DedupeTable:      getenv(EnvDedupeTable),
		SchedulerRoleARN: getenv(EnvSchedulerRole),
		ScheduleGroup:    getenv(EnvScheduleGroup),
	}
	if c.Action == "" {
		c.Action = ActionReport
	}
	if c.Action != ActionReport && c.Action != ActionDeactivate {
		return c, fmt.Errorf("%s=%q: want %s or %s", EnvAction, c.Action, ActionReport, ActionDeactivate)
	}
	if c.ScheduleGroup == "" {
		c.ScheduleGroup = "default"
	}
	var err error
	if v := getenv(EnvWindow); v != "" {
		if c.Window, err = time.ParseDuration(v); err != nil || c.Window <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive Go duration such as 10m", EnvWindow, v)
		}
	}
	if v := getenv(EnvGrace); v != "" {
		if c.Grace, err = time.ParseDuration(v); err != nil || c.Grace < 0 {
			return c, fmt.Errorf("%s=%q: want 0 or a positive Go duration such as 24h", EnvGrace, v)
		}
	}
	if c.Action == ActionReport && c.TopicARN == "" {
		return c, fmt.Errorf("%s=%s needs %s: where would the report go?", EnvAction, ActionReport, EnvTopicARN)
	}
	if c.TopicARN != "" && c.DedupeTable == "" {
		return c, errors.New(EnvDedupeTable + " is required with a topic: EventBridge delivers an event at least once, and the table makes a repeated event publish once")
	}
	if c.Action == ActionDeactivate && c.Grace > 0 {
		if c.Grace < minGrace {
			return c, fmt.Errorf("%s=%s: a grace is 0 (at once) or at least %s", EnvGrace, c.Grace, minGrace)
		}
		if c.SchedulerRoleARN == "" {
			return c, fmt.Errorf("%s=%s needs %s: the re-check is an EventBridge Scheduler one-time schedule invoking the function with that role", EnvGrace, c.Grace, EnvSchedulerRole)
		}
	}
	return c, nil
}
