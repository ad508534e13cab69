// [[template]] expansion (see config_templates.h): definitions are collected
// first, then each [process.template] is rendered with core/template.h and its
// keys moved into the process, so their positions still point into the
// rendered template.
#include "core/config_templates.h"

#include <fmt/format.h>

#include <utility>

#include "core/template.h"

namespace procman::core::config_detail {

namespace {

struct TemplateDef {
  std::string body;
  SourcePos pos;
};

std::map<std::string, TemplateDef> collect_templates(const toml::table& doc, Diags& diags) {
  std::map<std::string, TemplateDef> out;
  const toml::node* node = doc.get("template");
  if (node == nullptr) return out;
  Scope top(diags, "", nullptr);
  if (!is_table_array(*node)) {
    top.error(*node, fmt::format("'template' must be an array of tables ([[template]] with name "
                                 "and template), not {}",
                                 shape_name(*node)));
    return out;
  }
  for (const toml::node& item : *node->as_array()) {
    const toml::table& t = *item.as_table();
    const toml::node* name = t.get("name");
    const std::string label = name != nullptr && name->is_string()
                                  ? fmt::format("template '{}'", name->as_string()->get())
                                  : std::string("[[template]]");
    Scope s(diags, label, nullptr);
    s.check_keys(t, {"name", "template"}, "in " + label);
    const toml::node* body = t.get("template");
    if (name == nullptr) s.error(item, "missing required key 'name'");
    if (body == nullptr) s.error(item, "missing required key 'template'");
    if (name == nullptr || body == nullptr) continue;
    const std::string* n = want_text(s, *name, "name");
    const std::string* b = want_string(s, *body, "template");
    if (n == nullptr || b == nullptr) continue;
    auto [it, inserted] = out.emplace(*n, TemplateDef{*b, pos_of(name->source())});
    if (!inserted) {
      s.error(*name, fmt::format("defined twice (first at line {})", it->second.pos.line));
    }
  }
  return out;
}

/// Expands one process's [process.template] in place. Returns its TemplateUse.
TemplateUse expand_process(toml::table& proc, std::size_t index,
                           const std::map<std::string, TemplateDef>& templates, Diags& diags,
                           const std::map<std::string, std::string>& env) {
  const std::string label = process_label(proc, index);
  Scope s(diags, label, nullptr);
  const toml::node& use_node = *proc.get("template");
  TemplateUse use;
  use.pos = pos_of(use_node.source());
  use.failed = true;
  const toml::table* t =
      want_table(s, use_node, "template", "a table { template = \"NAME\", variables... }");
  if (t == nullptr) return use;
  const toml::node* name_node = t->get("template");
  if (name_node == nullptr) {
    s.error(use_node, "[process.template] needs 'template' = the template's name");
    return use;
  }
  const std::string* name_text = want_text(s, *name_node, "template.template");
  if (name_text == nullptr) return use;
  const std::string name_value = *name_text;  // outlives the erase of [process.template]
  const std::string* name = &name_value;
  use.name = *name;
  auto def = templates.find(*name);
  if (def == templates.end()) {
    Strings names;
    for (const auto& [n, d] : templates) names.push_back(n);
    std::string hint = suggestion(*name, names);
    if (names.empty()) hint = " (no [[template]] is defined)";
    s.error(*name_node, fmt::format("unknown template '{}'{}", *name, hint));
    return use;
  }

  std::map<std::string, std::string> vars;
  std::map<std::string, const toml::key*> var_keys;
  bool ok = true;
  for (const auto& [k, v] : *t) {
    if (k.str() == "template") continue;
    auto text = scalar_text(v, true);
    if (!text) {
      s.error(v, fmt::format("template variable '{}' must be a string or another scalar, not {}",
                             k.str(), type_name(v)));
      ok = false;
      continue;
    }
    vars[std::string(k.str())] = *text;
    var_keys[std::string(k.str())] = &k;
  }
  if (!ok) return use;

  const std::string where = fmt::format("in template '{}' for {}", *name, label);
  TemplateError terr;
  std::optional<std::string> rendered = render_template(def->second.body, vars, env, &terr);
  if (!rendered) {
    SourcePos pos = use.pos;
    // An unused variable is best shown at its own key.
    for (const auto& [var, key] : var_keys) {
      if (terr.message == "variable '" + var + "' is not used by the template") {
        pos = pos_of(key->source());
      }
    }
    std::string message = fmt::format("{}: {}", where, terr.message);
    if (terr.line != 0) message += fmt::format(" (template line {})", terr.line);
    diags.error(pos, message);
    return use;
  }
  toml::table body;
  try {
    body = toml::parse(std::string_view(*rendered), std::string_view("<template " + *name + ">"));
  } catch (const toml::parse_error& e) {
    diags.error(use.pos, fmt::format("{}: {} (template line {})", where, e.description(),
                                     e.source().begin.line));
    return use;
  }
  proc.erase("template");
  for (auto&& [k, v] : body) {
    if (k.str() == "template") {
      diags.error(use.pos, fmt::format("{}: a template cannot use another template", where));
      ok = false;
      continue;
    }
    if (const toml::node* mine = proc.get(k.str())) {
      auto it = proc.find(k.str());
      s.error_at_key(
          it->first, *mine,
          fmt::format("key '{}' is set both by the process and by template '{}'", k.str(), *name));
      ok = false;
      continue;
    }
    proc.insert(k, std::move(v));  // a move keeps the node's source position
  }
  use.failed = !ok;
  return use;
}

}  // namespace

Expanded parse_and_expand(std::string_view text, const std::string& path, Diags& diags,
                          const std::map<std::string, std::string>& env) {
  Expanded out;
  try {
    out.doc = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    diags.error(pos_of(e.source()), std::string(e.description()));
    return out;
  }
  toml::table& doc = *out.doc;
  const auto templates = collect_templates(doc, diags);
  doc.erase("template");
  if (auto* processes = doc.get_as<toml::array>("process")) {
    for (std::size_t i = 0; i < processes->size(); ++i) {
      auto* proc = processes->get_as<toml::table>(i);
      if (proc == nullptr || proc->get("template") == nullptr) {
        out.uses.emplace_back();
        continue;
      }
      out.uses.emplace_back(expand_process(*proc, i, templates, diags, env));
      proc->erase("template");
    }
  }
  return out;
}

}  // namespace procman::core::config_detail
