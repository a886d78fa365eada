"""gscen's stand-in for Gumby's package (served only when no real Gumby is importable)."""
