// Package repotest holds checks of the repository as a newcomer meets it:
// README's Stacks table against stacks/, and the Makefile's targets that
// wrap the Pulumi CLI (run against a stand-in CLI). It has no code of its
// own.
package repotest
