// Package builder turns a recipe into a Xen guest template: it loads and
// validates the recipe, runs the first stage (builder/debootstrap), renders
// the configuration into the tree, and writes the images (builder/ext3,
// builder/swap) and the domain config (builder/xencfg).
package builder
