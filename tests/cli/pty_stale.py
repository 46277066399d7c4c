#!/usr/bin/env python3
"""A pseudo-terminal whose line still carries stale bootloader replies.

usage: pty_stale.py silent            stale replies, then a unit that never answers
       pty_stale.py bridge SIM_PTY    stale replies, then the bytes relayed to and from
                                      SIM_PTY (a `flashline sim --pty` unit), at 115200

Prints `pty: PATH` once the kernel's buffer on that pty is full of stale replies, so
whoever opens PATH finds them waiting and, as it reads, finds more arriving (the rest
of an earlier session's answers still on their way).  The stale stream ends on its
own; it never answers anything sent to it.  Runs until killed.

The stale frames are well-formed: LinkCheck-OK replies and a ReadReg reply carrying
chip ID 0x0BADC0DE.  A host that takes any of them for an answer "finds" a bootloader
on a silent line, or reports the wrong chip.
"""
import os
import select
import sys
import termios
import threading
import tty

LINK_CHECK_OK = bytes([0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x01, 0x00])
# ReadReg reply: rc 0x03, address 0x00800000 (chip ID register), value 0x0BADC0DE
READ_REG_BAD_ID = bytes([0x04, 0x0E, 0x0C, 0x01, 0xE0, 0xFC, 0x03,
                         0x00, 0x00, 0x80, 0x00, 0xDE, 0xC0, 0xAD, 0x0B])
STALE = (LINK_CHECK_OK * 4 + READ_REG_BAD_ID) * 1400  # ~66 KB, about 3 x the pty buffer


def fill_then_stream(master, ready):
    """Fill the buffer without blocking, say so, then push the rest as room appears."""
    os.set_blocking(master, False)
    sent = 0
    while sent < len(STALE):
        try:
            sent += os.write(master, STALE[sent:sent + 1024])
        except BlockingIOError:
            break
    ready.set()
    os.set_blocking(master, True)
    while sent < len(STALE):
        sent += os.write(master, STALE[sent:])


def relay(master, other):
    while True:
        r, _, _ = select.select([master, other], [], [])
        for fd in r:
            data = os.read(fd, 4096)
            if not data:
                return
            os.write(other if fd == master else master, data)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("silent", "bridge") or \
            (sys.argv[1] == "bridge") != (len(sys.argv) == 3):
        sys.exit(__doc__)
    master, slave = os.openpty()
    tty.setraw(slave)  # kept open: the master never sees a hang-up between users
    path = os.ttyname(slave)
    ready = threading.Event()
    writer = threading.Thread(target=fill_then_stream, args=(master, ready), daemon=True)
    writer.start()
    ready.wait()
    print("pty: " + path, flush=True)
    writer.join()  # the stale stream has ended: from here on the line is what it seems
    if sys.argv[1] == "bridge":
        sim = os.open(sys.argv[2], os.O_RDWR | os.O_NOCTTY)
        tty.setraw(sim)
        attrs = termios.tcgetattr(sim)  # the last user may have left another rate on it
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(sim, termios.TCSANOW, attrs)
        relay(master, sim)
    else:
        while True:
            os.read(master, 4096)  # a unit that hears everything and says nothing


if __name__ == "__main__":
    main()
