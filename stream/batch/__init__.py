"""`faceanon batch`: whole CCTV folders, resumable, on local workers or a Ray cluster.

discover (which files are media) → naming (where each goes) → manifest (SQLite state) →
driver (schedules jobs on an executor, records results) → jobs (the work in a worker) →
summary (JSON and CSV reports); segments split and join long recordings.
"""
