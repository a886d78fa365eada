from scenario_lang import ExperimentModule, experiment_callback


class PlanModule(ExperimentModule):
    @experiment_callback
    def count(self, n: int) -> None:
        pass

    @experiment_callback
    def name(self, value: str) -> None:
        pass
