"""Investigations: the pivots an alert's buttons open in its thread (flows) and their
words and pictures (messages/)."""
