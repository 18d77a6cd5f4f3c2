package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

// TestOfficialOpenAIClient proves the sim speaks the protocol the official
// openai-go client expects, streaming and not, for every flavour.
func TestOfficialOpenAIClient(t *testing.T) {
	t.Parallel()
	for _, flavour := range engine.Flavours {
		t.Run(string(flavour), func(t *testing.T) {
			t.Parallel()
			_, ts := newSim(t, sim.Config{Flavour: flavour})
			client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
			ctx := context.Background()
			params := openai.ChatCompletionNewParams{
				Model:     "test-model",
				Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say something")},
				MaxTokens: openai.Int(6),
			}
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(strings.Fields(resp.Choices[0].Message.Content)) != 6 || resp.Usage.CompletionTokens != 6 {
				t.Errorf("non-streaming: %q, usage %+v", resp.Choices[0].Message.Content, resp.Usage)
			}

			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != resp.Choices[0].Message.Content {
				t.Errorf("streamed %q, non-streamed %q: same prompt must give the same text", got, resp.Choices[0].Message.Content)
			}
			if acc.Usage.CompletionTokens != 6 {
				t.Errorf("streamed usage = %+v, want 6 completion tokens", acc.Usage)
			}

			comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
				Model:     "test-model",
				Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon")},
				MaxTokens: openai.Int(3),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(strings.Fields(comp.Choices[0].Text)) != 3 {
				t.Errorf("completion text %q", comp.Choices[0].Text)
			}
		})
	}
}
