"""Fault-injection suite: a Jepsen-style bank workload under crashes and restarts."""
