// Package deploy holds setupkeys' CloudFormation templates (setupkeys.yaml for one account,
// central.yaml and org-stackset.yaml for an organization) and the function's event pattern. Its
// tests lint every template with cfn-lint and route the rule's pattern through EventBridge in
// moto.
package deploy

import (
	_ "embed"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

//go:embed setupkeys.yaml
var accountTemplate []byte

// EventPattern returns the IAM rule's event pattern as the account template has it, as plain
// data (the template's short-form intrinsics do not appear in it).
func EventPattern() (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(accountTemplate, &doc); err != nil {
		return nil, fmt.Errorf("setupkeys.yaml: %w", err)
	}
	node := &doc
	for _, key := range []string{"Resources", "IamEventsRule", "Properties", "EventPattern"} {
		node = child(node, key)
		if node == nil {
			return nil, errors.New("setupkeys.yaml: no Resources.IamEventsRule.Properties.EventPattern")
		}
	}
	var pattern map[string]any
	if err := node.Decode(&pattern); err != nil {
		return nil, fmt.Errorf("setupkeys.yaml: EventPattern: %w", err)
	}
	return pattern, nil
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
