package report

// CISControl is where one version of the CIS AWS Foundations Benchmark numbers the control this
// tool checks ("do not set up access keys during initial user setup for all IAM users that have
// a console password"; v4 retitled it "Do not create access keys during initial setup...").
type CISControl struct {
	Version string // "v1.2.0"
	Control string // "1.21"
}

// CISControls lists the control's number in every benchmark version that has it, oldest first.
// No version of Security Hub CSPM or AWS Config checks it automatically (a manual control).
var CISControls = []CISControl{
	{"v1.1.0", "1.23"},
	{"v1.2.0", "1.21"},
	{"v1.3.0", "1.11"},
	{"v1.4.0", "1.11"},
	{"v1.5.0", "1.11"},
	{"v2.0.0", "1.11"},
	{"v3.0.0", "1.11"},
	{"v4.0.0", "1.11"},
	{"v4.0.1", "1.11"},
	{"v5.0.0", "1.10"},
	{"v6.0.0", "2.10"},
}

// CISBenchmark is the benchmark's name as Security Hub writes it in requirements
// ("CIS AWS Foundations Benchmark v1.2.0/1.21").
const CISBenchmark = "CIS AWS Foundations Benchmark"
