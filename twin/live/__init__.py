"""The live twin: sensors bound to twin objects, readings, graded alarms and live subscriptions.

Pure cores (`kinds`, `sensors`, `readings`, `alarms`, `scope`, `state`, `hub`, `protocol`) take values and return
values; the adapters (`store`, `writer`, `bus`, `service`, `ws`, `replay`) do the I/O around them.
"""
