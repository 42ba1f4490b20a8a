"""Status errors are ValidationFailed (unknown/automatic status) and Conflict (closed lead)."""
