package controller_test

import (
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/events/zmqguard"
)

// TestUnknownNameMatchesNobody: an ACL whose rule names a user or group
// this machine does not know (deleted since poold started) used to fail
// to build, and poold then ran its control socket with no ACL at all:
// after an upgrade, which keeps the socket file's 0666 mode, every local
// user was an operator. Such a rule now matches nobody and does not
// widen the socket, and the rest of the rules still apply.
func TestUnknownNameMatchesNobody(t *testing.T) {
	acl, err := controller.NewACL([]string{"user:poold-acl-deleted-user", "group:poold-acl-deleted-group"}, []string{"uid:4242"})
	if err != nil {
		t.Fatalf("NewACL with unknown names: %v, want an ACL", err)
	}
	if got := acl.Unknown(); len(got) != 2 {
		t.Errorf("Unknown() = %q, want the two rules named", got)
	}
	for _, uid := range []uint32{0, 1, 4242, 65534} {
		p := zmqguard.Peer{HasCred: true, UID: uid, GID: 0}
		role, _ := acl.RoleOf(p)
		want := arbiter.RoleNone
		switch uid {
		case 0:
			want = arbiter.RoleOperator // root always is
		case 4242:
			want = arbiter.RoleReadOnly
		}
		if role != want {
			t.Errorf("uid %d: role %v, want %v", uid, role, want)
		}
	}
	only, err := controller.NewACL([]string{"user:poold-acl-deleted-user"}, nil)
	if err != nil || only.Wide() {
		t.Errorf("an ACL of only an unknown user: %v, wide %v; want it built and not wide", err, only != nil && only.Wide())
	}
}
