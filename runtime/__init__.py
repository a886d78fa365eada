"""gscen's runtime: a compiled Plan -> running, synchronized peers (scheduler, sync, launchers, guard)."""
