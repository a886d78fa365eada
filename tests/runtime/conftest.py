"""Runtime test fixtures."""

from process_watch import adopter

__all__ = ["adopter"]
