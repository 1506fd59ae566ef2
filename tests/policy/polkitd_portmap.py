# SPDX-License-Identifier: GPL-2.0-or-later
"""python3-dbusmock's polkitd template (0.28.7) with challenges added.

The stock template answers (allowed, False, {}): it cannot say "polkit would ask the user".
Here SetChallenged(actions) makes those actions (when not allowed outright) answer
is_challenge=True to a check without AllowUserInteraction, as polkitd does for auth_admin,
and authorized to a check with it (an authentication agent that accepts the password).
Everything else (SetAllowed, AllowUnknown, SetDelay, SimulateHang, ReleaseHangingCalls,
HaveHangingCalls, the call log of GetMethodCalls) is the stock template's."""

import time

import dbus
from dbusmock import MOCK_IFACE
# dbusmock adds every D-Bus method found in this module to the mock: these are the stock ones
from dbusmock.templates import polkitd as stock
from dbusmock.templates.polkitd import (AllowUnknown, HaveHangingCalls,  # noqa: F401
                                        RegisterAuthenticationAgent, ReleaseHangingCalls,
                                        SetAllowed, SetDelay, SimulateHang,
                                        SimulateHangActions)

BUS_NAME = stock.BUS_NAME
MAIN_OBJ = stock.MAIN_OBJ
MAIN_IFACE = stock.MAIN_IFACE
SYSTEM_BUS = True

ALLOW_USER_INTERACTION = 1


def load(mock, parameters):
    stock.load(mock, parameters)
    mock.challenged = []


@dbus.service.method(MAIN_IFACE, in_signature="(sa{sv})sa{ss}us", out_signature="(bba{ss})",
                     async_callbacks=("ok_cb", "_err_cb"))
def CheckAuthorization(self, _subject, action_id, _details, flags, _cancellation_id, ok_cb,
                       _err_cb):
    time.sleep(self.delay)
    allowed = bool(action_id in self.allowed or self.allow_unknown)
    challenge = False
    if not allowed and action_id in self.challenged:
        if flags & ALLOW_USER_INTERACTION:
            allowed = True
        else:
            challenge = True
    ret = (allowed, challenge, {})
    if self.simulate_hang or action_id in self.hanging_actions:
        self.hanging_calls.append((ok_cb, ret))
    else:
        ok_cb(ret)


@dbus.service.method(MOCK_IFACE, in_signature="as", out_signature="")
def SetChallenged(self, actions):
    """Actions that need authentication: challenged without interaction, granted with it"""
    self.challenged = actions
