"""Schedules: periodic recrawls, retraining and digest posts, run by APScheduler inside the
bot process, their jobs kept in the warehouse database."""
