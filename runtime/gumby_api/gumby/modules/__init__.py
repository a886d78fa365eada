"""gscen's stand-in for `gumby.modules` (served only when no real Gumby is importable)."""
