from activities.requests import RequestActivities

__all__ = ["RequestActivities"]
