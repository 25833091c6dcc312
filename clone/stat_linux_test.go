package clone_test

import (
	"syscall"
	"testing"
)

func mustStat(t testing.TB, p string) statInfo {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return statInfo{size: st.Size, blocks: st.Blocks}
}
