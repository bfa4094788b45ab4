from activities.disassociation import DisassociationActivities

__all__ = ["DisassociationActivities"]
