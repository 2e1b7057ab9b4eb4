"""A methodology version's public document (Markdown, zh / en), rendered from the same data the calculation uses."""

from __future__ import annotations

from tanhui.methodologies.methodology import Field, Methodology
from tanhui.methodologies.monitoring_data import template_csv

_TAGS = {"V": "V: published source / 已核对公开来源", "T": "T: secondary tables, unverified / 二手资料，未核实",
         "R": "R: placeholder to be replaced / 占位值，待运营方替换"}


def _fields(fields: tuple[Field, ...]) -> list[str]:
    rows = ["| field 字段 | kind 类型 | unit 单位 | required 必填 | meaning 含义 |", "|---|---|---|---|---|"]
    for f in fields:
        meaning = f"{f.zh} / {f.en}" + (f" ({', '.join(f.choices)})" if f.choices else "")
        if f.minimum is not None:
            meaning += f"; ≥ {f.minimum}"
        rows.append(f"| `{f.name}` | {f.kind} | {f.unit} | {'yes 是' if f.required else 'no 否'} | {meaning} |")
    return rows


def document(methodology: Methodology) -> str:
    """The document a project owner reads before declaring, and a verifier checks a report against."""
    m = methodology
    lines = [f"# {m.reference} — {m.title_zh}", "", m.title_en, "", f"**Scope 适用范围.** {m.scope}", "",
             "## Formula 计算公式", "", m.formula, "", "Results are whole kgCO2e, rounded down once from the exact "
             "sum; a buffer share, where the version has one, is rounded up. 结果为整数千克二氧化碳当量，按精确合计"
             "向下取整；缓冲扣除向上取整。", ""]
    if m.grid_factor is not None:
        factor = m.grid_factor
        lines += ["## Grid emission factor 电网排放因子", "",
                  f"{factor.value} {factor.unit} — {factor.region_name}, {factor.series}, data year {factor.data_year}"
                  f" [{factor.tag}]. Source 来源: {factor.source}", ""]
    lines += ["## Parameters 参数", "",
              "| parameter 参数 | value 数值 | unit 单位 | tag 标记 | source 来源 | note 说明 |",
              "|---|---|---|---|---|---|"]
    lines += [f"| `{p.name}` | {p.value} | {p.unit} | {p.tag} | {p.source} | {p.note} |"
              for p in m.parameters.values()]
    lines += ["", "Tags 标记: " + "; ".join(_TAGS.values()), "", "## Applicability 适用条件", ""]
    lines += [f"- `{c.field} {c.op} {c.shown(m.parameters)}` — {c.zh} / {c.en}" for c in m.conditions]
    lines += ["", "## Project design fields 项目设计字段", "", *_fields(m.design_fields), "",
              "## Monitoring data 监测数据", "",
              "One row per line of the CSV template; every row is checked and a file with any bad row is refused "
              "whole. 每行一条记录；任一行有误则整份文件不予接收。", "",
              *_fields(m.monitoring_fields), "", "Template 模板:", "",
              "```csv", template_csv(m).rstrip("\n"), "```", ""]
    return "\n".join(lines)
