"""Ports chosen for the processes of one stack are all different: one port at a time, the kernel
may hand out again a port it has just been given back, and two services of a stack would then
meet on one port (the API's readiness check answered by the Temporal UI)."""

from __future__ import annotations

from devstack import services


def test_ports_chosen_together_are_all_different():
    ports = services.free_ports(200)
    assert len(set(ports)) == 200
