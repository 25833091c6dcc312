package main

import (
	"context"
	"log/slog"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/secondstage"
	"github.com/xenimg/xenimg/builder/tree"
)

// withSecondStage adapts builder/secondstage to the builder's hook.
func withSecondStage(log *slog.Logger) builder.SecondStage {
	return func(ctx context.Context, t *tree.Tree, in builder.SecondStageInput) (*tree.Tree, string, error) {
		mode, err := secondstage.ParseMode(in.Mode)
		if err != nil {
			return nil, "", err
		}
		nt, used, err := secondstage.Run(ctx, t, secondstage.Options{
			Mode: mode, Arch: in.Arch, Codename: in.Codename, Epoch: in.Epoch,
			Required: in.Required, WorkDir: in.WorkDir, Tmpfs: true, Reference: true, Log: log,
		})
		return nt, string(used), err
	}
}
