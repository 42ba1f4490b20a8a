"""Lead conversion has no Celery tasks on the deals side (leads resumes unfinished conversions)."""
