from ..casemod import CaseModule as Imported  # noqa: TID252


class Derived(Imported):
    pass
