"""One run and one workflow job.

The training loop, a job's runs into their folders, run folders and manifests, peak memory.
"""
