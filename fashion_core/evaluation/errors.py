"""The one exception the evaluator raises for bad ground-truth or results input."""

from __future__ import annotations


class EvaluationInputError(ValueError):
    """Bad ground truth or results: the message says which input, where in it, and what is wrong.

    ``source`` is ``"ground truth"`` or ``"results"`` (or a file name); ``where`` locates the problem
    (``"annotation index 3 (id 17)"``, ``"result index 0"``, ``"document"``).
    The message reads ``"{source} {where}: {problem}"``.
    """

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source} {where}: {problem}")

    def __reduce__(self) -> tuple[type[EvaluationInputError], tuple[str, str, str]]:
        # Default exception pickling calls cls(message); Ray ships exceptions between processes.
        return (EvaluationInputError, (self.source, self.where, self.problem))
