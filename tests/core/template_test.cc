#include "core/template.h"

#include <gtest/gtest.h>

namespace procman::core {
namespace {

using Vars = std::map<std::string, std::string>;

std::string render_ok(std::string_view text, const Vars& vars, const Vars& env = {}) {
  TemplateError error;
  std::optional<std::string> out = render_template(text, vars, env, &error);
  if (!out) {
    ADD_FAILURE() << "unexpected error " << error.line << ":" << error.column << ": "
                  << error.message;
    return "";
  }
  return *out;
}

TemplateError render_error(std::string_view text, const Vars& vars, const Vars& env = {}) {
  TemplateError error;
  std::optional<std::string> out = render_template(text, vars, env, &error);
  EXPECT_FALSE(out.has_value()) << "rendered: " << out.value_or("");
  return error;
}

TEST(Template, TextWithoutPlaceholdersIsUnchanged) {
  EXPECT_EQ(render_ok("command = \"sleep 1\"\n# { } }} {x}\n", {}),
            "command = \"sleep 1\"\n# { } }} {x}\n");
  EXPECT_EQ(render_ok("", {}), "");
}

TEST(Template, SubstitutesVariablesWithOrWithoutSpaces) {
  EXPECT_EQ(render_ok("{{a}}-{{ a }}-{{   b\t}}", {{"a", "1"}, {"b", "two"}}), "1-1-two");
}

TEST(Template, NamesMayContainDigitsDashesAndUnderscores) {
  EXPECT_EQ(render_ok("{{ container-name }} {{ _x9 }} {{ image_2 }}",
                      {{"container-name", "c"}, {"_x9", "x"}, {"image_2", "i"}}),
            "c x i");
}

TEST(Template, ValuesAreInsertedVerbatim) {
  EXPECT_EQ(render_ok("a={{ v }}", {{"v", "{{ not_a_placeholder }} \"q\""}}),
            "a={{ not_a_placeholder }} \"q\"");
}

TEST(Template, FallsBackToTheEnvironment) {
  EXPECT_EQ(render_ok("{{ HOME }}/{{ name }}", {{"name", "n"}}, {{"HOME", "/root"}}), "/root/n");
}

TEST(Template, VariablesWinOverTheEnvironment) {
  EXPECT_EQ(render_ok("{{ HOME }}", {{"HOME", "/mine"}}, {{"HOME", "/root"}}), "/mine");
}

TEST(Template, UnusedEnvironmentEntriesAreFine) {
  EXPECT_EQ(render_ok("x", {}, {{"PATH", "/bin"}}), "x");
}

TEST(Template, MissingVariableIsAnErrorWithItsPosition) {
  TemplateError e = render_error("a = 1\nb = \"{{ image }}\"\n", {});
  EXPECT_EQ(e.message, "missing variable 'image'");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 6u);
}

TEST(Template, UnusedVariableIsAnError) {
  TemplateError e = render_error("{{ a }}", {{"a", "1"}, {"extra", "2"}});
  EXPECT_EQ(e.message, "variable 'extra' is not used by the template");
  EXPECT_EQ(e.line, 0u);
}

TEST(Template, PlaceholdersInCommentLinesCount) {
  // jleahred/procman finds variables anywhere in the text, including '#' lines.
  EXPECT_EQ(render_ok("# uses {{ x }}\n", {{"x", "1"}}), "# uses 1\n");
  TemplateError e = render_error("a = 1\n# {{ y }}\n", {});
  EXPECT_EQ(e.message, "missing variable 'y'");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 3u);
}

TEST(Template, QuotedLiteralsRenderTheirText) {
  EXPECT_EQ(render_ok("{{ 'single' }} {{ \"double\" }} {{'tight'}}", {}), "single double tight");
}

TEST(Template, QuotedLiteralMayContainBraces) {
  EXPECT_EQ(render_ok("--format '{{ '{{.State.Status}}' }}'", {}), "--format '{{.State.Status}}'");
  EXPECT_EQ(render_ok("{{ \"it's }} here\" }}", {}), "it's }} here");
}

TEST(Template, JleahredPodmanHealthCheckRenders) {
  const std::string line =
      "health-check = \"[ \\\"$(podman inspect --format '{{ '{{.State.Status}}' }}' "
      "{{ container_name }})\\\" = \\\"running\\\" ]\"";
  EXPECT_EQ(render_ok(line, {{"container_name", "test_a"}}),
            "health-check = \"[ \\\"$(podman inspect --format '{{.State.Status}}' test_a)\\\" = "
            "\\\"running\\\" ]\"");
}

TEST(Template, PidFilePlaceholderIsLeftForRunTime) {
  EXPECT_EQ(render_ok("echo $! > {{ PROCMAN_PID_FILE }} {{PROCMAN_PID_FILE}}", {}),
            "echo $! > {{ PROCMAN_PID_FILE }} {{PROCMAN_PID_FILE}}");
}

TEST(Template, PidFilePlaceholderIgnoresTheEnvironment) {
  EXPECT_EQ(render_ok("{{ PROCMAN_PID_FILE }}", {}, {{"PROCMAN_PID_FILE", "/env"}}),
            "{{ PROCMAN_PID_FILE }}");
}

TEST(Template, PidFilePlaceholderCanBeDefinedByTheProcess) {
  EXPECT_EQ(render_ok("{{ PROCMAN_PID_FILE }}", {{"PROCMAN_PID_FILE", "/run/x.pid"}}),
            "/run/x.pid");
}

TEST(Template, UnterminatedPlaceholderIsAnError) {
  TemplateError e = render_error("a = 1\n  b = \"{{ name\"\n", {{"name", "x"}});
  EXPECT_NE(e.message.find("unterminated '{{'"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 8u);
}

TEST(Template, UnterminatedQuotedLiteralIsAnError) {
  TemplateError e = render_error("x {{ 'abc }}", {});
  EXPECT_NE(e.message.find("unterminated quoted literal"), std::string::npos) << e.message;
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 3u);
}

TEST(Template, TextAfterALiteralIsAnError) {
  TemplateError e = render_error("{{ 'a' b }}", {});
  EXPECT_NE(e.message.find("expected '}}' after the quoted literal 'a'"), std::string::npos)
      << e.message;
  EXPECT_EQ(e.column, 1u);
}

TEST(Template, InvalidPlaceholderSuggestsTheLiteralForm) {
  TemplateError e = render_error("fmt = '{{.State.Status}}'", {});
  EXPECT_EQ(e.message,
            "invalid placeholder '{{.State.Status}}': expected {{ name }} or a quoted literal "
            "such as {{ '{{.State.Status}}' }}");
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 8u);
}

TEST(Template, NameStartingWithADigitIsInvalid) {
  TemplateError e = render_error("{{ 9lives }}", {{"9lives", "x"}});
  EXPECT_NE(e.message.find("invalid placeholder '{{ 9lives }}'"), std::string::npos) << e.message;
}

TEST(Template, EmptyPlaceholderIsAnError) {
  TemplateError e = render_error("ab{{  }}", {});
  EXPECT_EQ(e.message, "empty placeholder '{{  }}'");
  EXPECT_EQ(e.column, 3u);
}

TEST(Template, ColumnsCountCharactersNotBytes) {
  TemplateError e = render_error("é€ {{ x }}", {});
  EXPECT_EQ(e.column, 4u);
}

TEST(Template, FirstErrorInTextOrderWins) {
  TemplateError e = render_error("{{ a }}\n{{ b }}", {});
  EXPECT_EQ(e.message, "missing variable 'a'");
  EXPECT_EQ(e.line, 1u);
}

TEST(Template, ErrorOutputIsOptional) {
  EXPECT_FALSE(render_template("{{ a }}", {}, {}, nullptr).has_value());
}

}  // namespace
}  // namespace procman::core
