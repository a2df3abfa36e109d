"""The fleet: put the agent on boards over SSH (`testbed agent install`), check them
(`testbed doctor`, `testbed devices --live`). See docs/fleet.md."""
