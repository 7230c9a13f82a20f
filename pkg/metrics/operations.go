package metrics

// Metric names for the failure signal and the token lifecycle (issue 17);
// template.yaml's alarms and dashboard watch these too.
const (
	// TasksFailed counts copy tasks that failed, whatever the step: a
	// message that is not a task, the credential exchange, listing, copying
	// or completing the date. Each is retried from the queue (after a
	// back-off) and ends in the dead-letter queue if it keeps failing.
	TasksFailed = "TasksFailed"
	// TaskRetries counts tasks received again after an earlier attempt
	// (SQS ApproximateReceiveCount above 1).
	TaskRetries = "TaskRetries"
	// TokenAgeDays is the age in days of the secret version holding the
	// PAT, i.e. the time since it was last changed (put-secret-value). The
	// planner reports it on every run; the optional rotation reminder
	// alarm watches it.
	TokenAgeDays = "TokenAgeDays"
)
