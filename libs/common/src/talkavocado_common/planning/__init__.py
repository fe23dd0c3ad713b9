"""The smart cut planner, the product's central algorithm: from the transcript and the audio
analysis, which stretches of the recording to keep and which to cut, and why.

`planner.plan_cuts` is pure (with `islands` and `fillers`); `step.smart_cut_planner` is the
pipeline step around it. Which service runs the step is declared in talkavocado_common.topology.
"""

from .planner import find_fillers, normalise, plan_cuts

__all__ = ["find_fillers", "normalise", "plan_cuts"]
