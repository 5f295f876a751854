package gemini

import "testing"

func TestNormalizeStateBothSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]BatchState{
		"BATCH_STATE_PENDING": BatchPending, "JOB_STATE_PENDING": BatchPending, "JOB_STATE_QUEUED": BatchPending,
		"BATCH_STATE_RUNNING": BatchRunning, "JOB_STATE_RUNNING": BatchRunning,
		"BATCH_STATE_SUCCEEDED": BatchSucceeded, "JOB_STATE_SUCCEEDED": BatchSucceeded, "JOB_STATE_PARTIALLY_SUCCEEDED": BatchSucceeded,
		"BATCH_STATE_FAILED": BatchFailed, "JOB_STATE_FAILED": BatchFailed,
		"BATCH_STATE_CANCELLED": BatchCancelled, "JOB_STATE_CANCELLED": BatchCancelled,
		"BATCH_STATE_EXPIRED": BatchExpired, "JOB_STATE_EXPIRED": BatchExpired,
		"": BatchUnknown, "JOB_STATE_SOMETHING_NEW": BatchUnknown,
	} {
		if got := normalizeState(in); got != want {
			t.Errorf("normalizeState(%q) = %q, want %q", in, got, want)
		}
	}
}
