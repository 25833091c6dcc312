package main

import (
	"context"
	"log/slog"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/secondstage"
	"github.com/xenimg/xenimg/builder/tree"
)

// secondStage adapts builder/secondstage to the builder's hook.
type secondStage struct{ log *slog.Logger }

func (s secondStage) Choose(mode, arch string) (string, string, error) {
	m, err := secondstage.ParseMode(mode)
	if err != nil {
		return "", "", err
	}
	chosen, why, err := secondstage.Choose(m, arch)
	return string(chosen), why, err
}

func (s secondStage) Run(ctx context.Context, t *tree.Tree, in builder.SecondStageInput) (*tree.Tree, error) {
	mode, err := secondstage.ParseMode(in.Mode)
	if err != nil {
		return nil, err
	}
	nt, _, err := secondstage.Run(ctx, t, secondstage.Options{
		Mode: mode, Arch: in.Arch, Codename: in.Codename, Epoch: in.Epoch,
		Required: in.Required, WorkDir: in.WorkDir, Rest: in.Rest,
		Tmpfs: true, Reference: true, Log: s.log,
	})
	return nt, err
}
