"""What one listener asked to receive: ``event``/``nixevent``/``noevents``/``filter``, with
mod_event_socket.c's parsing and answers (1.10.12).

* Command words, event names and formats are case-insensitive (``strncasecmp`` /
  ``strcasecmp`` / ``switch_name_event``); CUSTOM subclass names are not (a case-sensitive hash).
* ``event`` without one valid event name answers ``-ERR no keywords supplied`` (the format
  word is still taken); every word after ``CUSTOM`` is a subclass.
* Filters: header names match case-insensitively, values with ``strcasecmp`` or, written
  ``/regex/``, as a regex; a leading ``-`` makes a filter that vetoes; an event passes when
  some ``+`` filter matches and no ``-`` filter does.
"""

from __future__ import annotations

import re

from dialer.simulator.eventnames import KNOWN_EVENTS, event_name
from dialer.simulator.events import Event

FORMATS = ("plain", "json", "xml")


class Subscription:
    def __init__(self) -> None:
        self.listening = False  # LFLAG_EVENTS
        self.format = "plain"
        self.all_events = False
        self.all_custom = False  # ALL subscribes the CUSTOM subclasses too
        self.events: set[str] = set()
        self.subclasses: set[str] = set()
        self.filters: list[tuple[str, str]] = []

    # --- matching ------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if not self.listening:
            return False
        if not self.all_events:
            if event.name not in self.events:
                return False
            custom = event.name == "CUSTOM" and event.subclass is not None
            if custom and not self.all_custom and event.subclass not in self.subclasses:
                return False
        return not self.filters or self._filtered_in(event)

    def _filtered_in(self, event: Event) -> bool:
        send = False
        for name, value in self.filters:
            found = event.get_ci(name)
            if found is None:
                continue
            positive, i = True, 0
            while i < len(value) and value[i] in "+- ":
                positive = {"+": True, "-": False}.get(value[i], positive)
                i += 1
            wanted = value[i:]
            if send and positive:
                continue
            if value.startswith("/"):
                match = _regex_match(wanted, found)
            else:
                match = found.lower() == wanted.lower()
            if match:
                if not positive:
                    return False
                send = True
        return send

    # --- commands ------------------------------------------------------------------------

    def event(self, args: str) -> str:
        custom = False
        keys = 0
        for count, word in enumerate(args.split(" ") if args else []):
            if count == 0 and word.lower() in FORMATS:
                self.format = word.lower()
                continue
            if custom:
                self.subclasses.add(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            if name == "ALL":
                self.all_events = self.all_custom = True
                self.events |= KNOWN_EVENTS
            self.events.add(name)
            custom = custom or name == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.listening = True
        return f"+OK event listener enabled {self.format}"

    def nixevent(self, args: str) -> str:
        custom = False
        keys = 0
        for word in args.split(" ") if args else []:
            if custom:
                self.subclasses.discard(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":
                self.all_events = False
                self.events.clear()
            else:
                if self.all_events:  # "all but this one"
                    self.all_events = False
                    self.events = set(KNOWN_EVENTS) - {"ALL"}
                self.events.discard(name)
        if not keys:
            return "-ERR no keywords supplied"
        self.listening = True
        return "+OK events nixed"

    def noevents(self) -> str:
        if not self.listening:
            return "-ERR not listening for events"
        self.listening = self.all_events = self.all_custom = False
        self.events.clear()
        self.subclasses.clear()
        return "+OK no longer listening for events"

    def filter(self, args: str) -> str:
        header, _, value = args.lstrip(" ").partition(" ")
        if header.lower() == "delete" and value:
            header, _, value = value.partition(" ")
            if header.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    f
                    for f in self.filters
                    if not (f[0].lower() == header.lower() and (not value or f[1] == value))
                ]
            return f"+OK filter deleted. [{header}][{value}]"
        if not value:
            return "-ERR invalid syntax"
        if header.lower() == "add":
            header, _, value = value.partition(" ")
        self.filters.append((header, value))
        return f"+OK filter added. [{header}]=[{value}]"


def _regex_match(pattern: str, text: str) -> bool:
    """``switch_regex_perform`` on ``/expr/flags`` (``i`` makes it case-insensitive)."""
    body = pattern.removeprefix("/")
    flags = 0
    if "/" in body:
        body, _, opts = body.rpartition("/")
        flags = re.IGNORECASE if "i" in opts else 0
    try:
        return re.search(body, text, flags) is not None
    except re.error:
        return False
