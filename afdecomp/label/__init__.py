"""Labelling: judges for compliance and alignment-faking reasoning, and their validation."""
