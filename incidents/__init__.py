"""Incidents and their workflow, dispatch rules, visit logs, evaluations and notifications."""
