"""The report.

Tables and figures with their registries and styles, the paper beside our results, the
evidence, the summary and the report command.
"""
