"""The code behind the Session 18 U-Net notebook: one concept per module."""
