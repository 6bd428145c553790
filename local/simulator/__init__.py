"""A local stand-in for the Magic Hour API (https://api.magichour.ai) with fault injection.

Usage: `sim = start_simulator(SimulatorConfig(port=0, webhook_url=...))`, then `sim.url` and
`sim.stop()`. See README.md in this package for URLs, the control API and behaviour choices.
"""

from local.simulator.config import SimulatorConfig
from local.simulator.server import RunningSimulator, start_simulator
from local.simulator.signing import webhook_signature

__all__ = ["RunningSimulator", "SimulatorConfig", "start_simulator", "webhook_signature"]
