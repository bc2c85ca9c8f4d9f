"""Operator tools for the deployed stages and the local stack: reconcile, reshard.

Not deployed: ``chalicelib`` never imports them. Each builds what it needs from
a stage's settings (``.chalice/config.json`` through ``infra.stages``) or from
the running local stack's status file.
"""
