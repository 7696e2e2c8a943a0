"""labtwin's live dashboard: a running lab's boards, parts, MQTT traffic, faults and OT-2 in a browser.

:class:`~labtwin.dashboard.live_lab.LiveLab` keeps the lab's state (from MQTT on any lab, from the
board models on a twin); :class:`~labtwin.dashboard.server.DashboardServer` serves it as a page with
a live event stream. ``labtwin serve lab`` and ``labtwin run --ui`` start one (docs/dashboard.md).
"""
