#!/usr/bin/env python3
"""A host that changes its rate before a late simulator has read the set-baud command.

usage: pty_late_sim.py PTY SIM_PID

On a busy machine a `flashline sim --pty` unit may be scheduled only after the host has
written the SetBaudRate frame AND switched its own side of the pty to the new rate.  A
pty has no wire, so the simulator cannot see which came first.  This reproduces that
order without depending on timing: the simulator is stopped (SIGSTOP) while the frame
is written and the rate changed, then continued.  Exit 0 when the unit then answers a
LinkCheck at the new rate (it took the command at the old rate, as a real chip on a
real line would have), 1 otherwise.
"""
import os
import select
import signal
import sys
import termios
import time
import tty

LINK_CHECK = bytes([0x01, 0xE0, 0xFC, 0x01, 0x00])
LINK_CHECK_OK = bytes([0x04, 0x0E, 0x05, 0x01, 0xE0, 0xFC, 0x01, 0x00])
NEW_RATE, NEW_SPEED = 921600, termios.B921600


def set_rate(fd, speed):
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def link_check(fd, within, reboot=False):
    """Send LinkCheck until its reply comes back, for at most `within` seconds (with
    reboot: a running OpenBeken is asked to restart into its boot window first)."""
    deadline, seen = time.monotonic() + within, b""
    while time.monotonic() < deadline:
        if reboot:
            os.write(fd, b"reboot\r\n")
        os.write(fd, LINK_CHECK)
        end = min(deadline, time.monotonic() + 0.1)
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
            if ready:
                seen += os.read(fd, 4096)
                if LINK_CHECK_OK in seen:
                    return True
    return False


def main():
    pty, sim_pid = sys.argv[1], int(sys.argv[2])
    fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    set_rate(fd, termios.B115200)
    if not link_check(fd, 10, reboot=True):
        print("no LinkCheck reply at 115200 to begin with")
        return 1
    payload = NEW_RATE.to_bytes(4, "little") + bytes([20])  # rate, delay in ms
    os.kill(sim_pid, signal.SIGSTOP)
    try:
        os.write(fd, bytes([0x01, 0xE0, 0xFC, 1 + len(payload), 0x0F]) + payload)
        set_rate(fd, NEW_SPEED)
    finally:
        os.kill(sim_pid, signal.SIGCONT)
    if not link_check(fd, 5):
        print("no LinkCheck reply at %d after the late simulator read the command" % NEW_RATE)
        return 1
    print("the unit answers at %d" % NEW_RATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
