"""The incremental passes: a document re-checked after an edit without the whole front end.

Every pass takes one `EditContext` (the lines as the check sees them, the analysis, the changed
lines, the kind of change). `edits` runs them in order: `scope` (`@! set` and `&include` lines:
the variables in scope, the blocks included files bring in), `modules` (`&module` lines: the
callbacks, calls bound again), `recheck` (lines resolved and checked apart, with the variables in
scope replayed; an unknown callback's first use), `stops` (SC506 grouped per `stop` again).
They run on the store's worker thread and return what changed (`edits.Outcome`).
"""
