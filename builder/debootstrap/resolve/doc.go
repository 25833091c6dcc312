// Package resolve chooses the packages of a Debian bootstrap: the variant's
// seed lists (what debootstrap's work_out_debs picks for a suite) and their
// closure over Depends and Pre-Depends.
//
// Seeds, as debootstrap 1.0.128 computes them:
//   - required: every package with "Priority: required" in the indexes
//     (all components), plus usr-is-merged for bookworm;
//   - base: minbase "apt"; buildd "apt build-essential"; important (the
//     default, debootstrap's "-") every "Priority: important" package;
//     standard (mmdebstrap's variant) every important and standard package;
//     plus ca-certificates for an https mirror, plus Options.Include;
//   - sarge (scripts/sarge, scripts/sarge.buildd) uses fixed lists instead,
//     see SargeRequired and SargeBase;
//   - Options.Exclude removes names from the seed lists only, as
//     debootstrap's --exclude does: a dependency can still pull an excluded
//     package back in. usrmerge is never pulled in by a dependency for
//     bookworm and later (debootstrap's EXCLUDE_DEPENDENCY).
//
// Closure. debootstrap follows only the first alternative of each relation
// and ignores versions and virtual packages. This resolver gives the same
// answer whenever that first alternative is a real package whose candidate
// satisfies the relation (the case for every relation in the Debian
// archive's bootstrap set), and otherwise does what apt would: a relation
// already satisfied by the selection (by name or Provides, versions
// checked) adds nothing; else the first alternative with a candidate is
// taken, a real package before a provider, providers ranked by priority
// then name. Such relations are settled after the first-alternative
// closure, so the outcome never depends on map order.
//
// Versions: the candidate of a name is its highest version; a lower one
// from the indexes is taken only when a relation rules the higher out.
// Only one version of a name is selected: a later relation it does not
// satisfy is a DepError naming both dependency chains. debootstrap looks
// at the Depends of every version of a name; this package at the selected
// one's only.
//
// The universe holds one architecture plus "all". Multi-Arch matters only
// for qualifiers: "pkg:any" is satisfied by a package marked Multi-Arch:
// allowed; "pkg:native" and "pkg:ARCH" by the target architecture; any
// other architecture qualifier has no candidate. Multi-Arch: same and
// foreign change nothing for a single architecture.
//
// A universe is made from parsed packages (NewUniverse) or from scanned
// indexes (NewIndexUniverse, Builder): then a package's paragraph is
// parsed only when the resolver looks at it, a few hundred of 60,000 for
// a bookworm bootstrap, and an error in it is reported only then.
//
// Conflicts and Breaks between selected packages do not stop resolution:
// they are returned in Set.Conflicts, naming both packages, for the caller
// to report or refuse. Recommends and Suggests are not followed.
package resolve
