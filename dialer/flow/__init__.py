"""The call flow's per-call channel variables (DESIGN §7): the contract and its builder."""

from dialer.flow.variables import decode_header_value, flow_variables, header_value

__all__ = ["decode_header_value", "flow_variables", "header_value"]
