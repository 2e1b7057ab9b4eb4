"""The bilingual (zh-CN / en) PDF of a carbon credit report, drawn with reportlab, with its content attached."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import cache
from pathlib import Path

import segno
from pypdf import PdfReader, PdfWriter
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable
from sqlalchemy.engine import RowMapping

from tanhui.accounts.credit_report import stored_profile
from tanhui.accounts.profile import AREAS, CreditProfile, Evaluation

# The PDF carries the exact bytes the hash covers, so a third party can check it without asking us.
CONTENT_ATTACHMENT = "credit-report-content.json"

# TrueType CJK fonts of Debian packages, embedded (subset) when found: the PDF then shows Chinese anywhere.
# reportlab's TrueType reader takes TrueType outlines only, which rules out the CFF-based Noto CJK fonts.
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei"),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", "fonts-arphic-uming"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
)
# Built into reportlab and every Acrobat-compatible reader's Asian font pack; named, not embedded.
CID_FALLBACK = "STSong-Light"

INK = colors.HexColor("#1f2d3a")
MUTED = colors.HexColor("#5b6b79")
ACCENT = colors.HexColor("#1d6b4f")
RULE = colors.HexColor("#c9d3db")
PALE = colors.HexColor("#eef3f1")

LABEL_COLOURS = {"dark_green": "#1b5e20", "light_green": "#7cb342", "yellow": "#f9a825", "red": "#c62828"}
LABEL_NAMES = {"dark_green": ("深绿", "dark green"), "light_green": ("浅绿", "light green"),
               "yellow": ("黄", "yellow"), "red": ("红", "red")}
AREA_NAMES = {"industry": ("工业", "Industry"), "energy": ("能源", "Energy"), "buildings": ("建筑", "Buildings"),
              "transport": ("交通", "Transport"), "agriculture_forestry": ("农业（林业）", "Agriculture / forestry"),
              "daily_life": ("居民生活", "Daily life")}
KIND_NAMES = {"enterprise": ("企业", "enterprise"), "public_institution": ("公共机构", "public institution"),
              "resident": ("居民", "resident")}
TAG_NAMES = {"V": "已核实 verified", "T": "未核实 unverified", "R": "占位值 placeholder",
             "P": "占位值 placeholder"}


@dataclass(frozen=True)
class ReportFont:
    """The font Chinese and Latin text is set in, and where it came from (stated on the report)."""

    name: str
    origin: str
    embedded: bool


@cache
def report_font() -> ReportFont:
    """The first installed CJK TrueType font of ``FONT_CANDIDATES``, else reportlab's CID font STSong-Light."""
    for path, package in FONT_CANDIDATES:
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont("TanhuiCJK", path, subfontIndex=0))
            return ReportFont("TanhuiCJK", f"{Path(path).name} (Debian {package})", embedded=True)
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return ReportFont(CID_FALLBACK, f"{CID_FALLBACK} (reportlab CID font, not embedded)", embedded=False)


def tonnes(kg: int) -> str:
    """kgCO2e as tCO2e with three decimals, exact (no float)."""
    whole, rest = divmod(kg, 1000)
    return f"{whole:,}.{rest:03d}"


def exact(value: Fraction | None, places: int = 4) -> str:
    """A fraction rounded half-up to ``places`` decimals, for display only."""
    if value is None:
        return "—"
    scaled = value * 10**places
    rounded = int(scaled + Fraction(1, 2)) if scaled >= 0 else -int(-scaled + Fraction(1, 2))
    sign = "-" if rounded < 0 else ""
    whole, rest = divmod(abs(rounded), 10**places)
    return f"{sign}{whole:,}.{rest:0{places}d}" if places else f"{sign}{whole:,}"


def decimal(value: Fraction) -> str:
    """A factor as its source states it: exact decimals when finite, else six places."""
    for places in range(9):
        if (value * 10**places).denominator == 1:
            return exact(value, places)
    return exact(value, 6)


class _Styles:
    def __init__(self, font: str) -> None:
        base = ParagraphStyle("base", fontName=font, fontSize=8.6, leading=12.5, textColor=INK, alignment=TA_LEFT,
                              wordWrap="CJK")
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7.4, leading=10.4, textColor=MUTED)
        self.title = ParagraphStyle("title", parent=base, fontSize=19, leading=24, textColor=colors.white)
        self.subtitle = ParagraphStyle("subtitle", parent=base, fontSize=9.5, leading=13,
                                       textColor=colors.HexColor("#d8ece3"))
        self.heading = ParagraphStyle("heading", parent=base, fontSize=11.2, leading=15, textColor=ACCENT,
                                      spaceBefore=9, spaceAfter=4)
        self.cell = ParagraphStyle("cell", parent=base, fontSize=8.2, leading=11)
        self.cell_head = ParagraphStyle("cell_head", parent=self.cell, textColor=MUTED)
        self.big = ParagraphStyle("big", parent=base, fontSize=15, leading=19)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Banner(Flowable):
    """The coloured title band across the top of the first page."""

    def __init__(self, width: float, styles: _Styles, report_id: int | None, issued_at: datetime) -> None:
        super().__init__()
        self.width, self.height = width, 25 * mm
        self.styles, self.report_id, self.issued_at = styles, report_id, issued_at

    def draw(self) -> None:
        canvas = self.canv
        canvas.setFillColor(ACCENT)
        canvas.roundRect(0, 0, self.width, self.height, 2.5 * mm, stroke=0, fill=1)
        title = Paragraph("碳征信报告 <font size=12>Carbon Credit Report</font>", self.styles.title)
        title.wrapOn(canvas, self.width - 12 * mm, self.height)
        title.drawOn(canvas, 6 * mm, self.height - 11 * mm)
        number = "未编号 draft" if self.report_id is None else f"No. {self.report_id:08d}"
        issued = self.issued_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        line = Paragraph(f"报告编号 Report {number} · 出具时间 Issued {issued}", self.styles.subtitle)
        line.wrapOn(canvas, self.width - 12 * mm, self.height)
        line.drawOn(canvas, 6 * mm, 5 * mm)


def _table(rows: list[list[object]], widths: list[float], *, header: bool = True,
           zebra: bool = True) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
    ]
    if header:
        style += [("LINEBELOW", (0, 0), (-1, 0), 0.9, ACCENT), ("BACKGROUND", (0, 0), (-1, 0), PALE)]
    if zebra:
        style += [("BACKGROUND", (0, row), (-1, row), colors.HexColor("#f7f9fa"))
                  for row in range(2 if header else 1, len(rows), 2)]
    table.setStyle(TableStyle(style))
    return table


def _label_swatch(label: str | None, font: str) -> Drawing:
    drawing = Drawing(26 * mm, 11 * mm)
    colour = colors.HexColor(LABEL_COLOURS[label]) if label in LABEL_COLOURS else colors.HexColor("#9e9e9e")
    drawing.add(Rect(0, 0, 26 * mm, 11 * mm, rx=2 * mm, ry=2 * mm, fillColor=colour, strokeColor=None))
    zh = LABEL_NAMES[label][0] if label in LABEL_NAMES else "未评价"
    drawing.add(String(13 * mm, 3.6 * mm, f"{zh}标", fontName=font, fontSize=11, fillColor=colors.white,
                       textAnchor="middle"))
    return drawing


def _monthly_chart(profile: CreditProfile, width: float, font: str) -> Drawing:
    months = profile.monthly_emissions_kg
    height = 58 * mm
    drawing = Drawing(width, height)
    if not months:
        drawing.add(String(width / 2, height / 2, "本期无月度数据 No monthly data", fontName=font, fontSize=9,
                           fillColor=MUTED, textAnchor="middle"))
        return drawing
    chart = VerticalBarChart()
    chart.x, chart.y = 16 * mm, 12 * mm
    chart.width, chart.height = width - 22 * mm, height - 20 * mm
    # Whole tonnes keep the axis readable; the exact figures are in the tables and the attached content.
    chart.data = [[kg / 1000 for _, kg in months]]
    chart.categoryAxis.categoryNames = [month[2:].replace("-", "/") for month, _ in months]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6.8
    chart.categoryAxis.labels.fillColor = MUTED
    chart.categoryAxis.strokeColor = RULE
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 6.8
    chart.valueAxis.labels.fillColor = MUTED
    chart.valueAxis.valueMin = 0
    chart.valueAxis.strokeColor = RULE
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#e6ebef")
    chart.valueAxis.gridStrokeWidth = 0.4
    chart.bars[0].fillColor = ACCENT
    chart.bars[0].strokeColor = None
    chart.barSpacing = 1.5
    drawing.add(chart)
    drawing.add(String(2 * mm, height - 5 * mm, "tCO2e", fontName=font, fontSize=7, fillColor=MUTED))
    return drawing


def _qr(url: str, size: float) -> Drawing:
    """The QR code as vector squares (segno's matrix), crisp at any zoom and print size."""
    code = segno.make(url, error="m")
    matrix = code.matrix
    border = 2
    modules = len(matrix) + 2 * border
    cell = size / modules
    drawing = Drawing(size, size)
    drawing.add(Rect(0, 0, size, size, fillColor=colors.white, strokeColor=None))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                drawing.add(Rect((x + border) * cell, size - (y + border + 1) * cell, cell, cell,
                                 fillColor=colors.black, strokeColor=None, strokeWidth=0))
    return drawing


def _evaluation_cell(evaluation: Evaluation | None, styles: _Styles, shown: str) -> list[object]:
    if evaluation is None:
        return [Paragraph("未评价 not evaluated", styles.big)]
    parts: list[object] = [Paragraph(_escape(shown), styles.big)]
    parts.append(Paragraph(f"方案 scheme {_escape(evaluation.scheme)}", styles.small))
    return parts


def _reasons(title: str, evaluation: Evaluation | None, styles: _Styles) -> list[object]:
    if evaluation is None:
        return []
    lines = "<br/>".join(f"· {_escape(reason)}" for reason in evaluation.reasons) or "—"
    if evaluation.score is None:
        score = ""
    else:
        shown = f"{evaluation.score.numerator:,}" if evaluation.score.denominator == 1 else exact(evaluation.score)
        score = f"（得分/比值 score {shown}）"
    return [Paragraph(f"<b>{title}</b> {score}", styles.body), Paragraph(lines, styles.small), Spacer(1, 2)]


def _on_page(font: ReportFont, verify_url: str, digest: str):  # type: ignore[no-untyped-def]
    def draw(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.4)
        canvas.line(doc.leftMargin, 14 * mm, A4[0] - doc.rightMargin, 14 * mm)
        canvas.setFont(font.name, 6.8)
        canvas.setFillColor(MUTED)
        canvas.drawString(doc.leftMargin, 10 * mm, f"核验 Verify: {verify_url}")
        canvas.drawString(doc.leftMargin, 6.5 * mm, f"SHA-256 {digest}")
        canvas.drawRightString(A4[0] - doc.rightMargin, 10 * mm, f"第 {doc.page} 页 · page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf(profile: CreditProfile, *, issued_at: datetime, report_id: int | None, content_sha256: str,
               content: str, verify_url: str) -> bytes:
    """The report as PDF bytes; ``content`` (the canonical JSON whose SHA-256 is ``content_sha256``) is attached."""
    font = report_font()
    styles = _Styles(font.name)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=14 * mm,
                            bottomMargin=20 * mm, title=f"碳征信报告 Carbon Credit Report — {profile.name}",
                            author="Tanhui 碳惠", subject=f"SHA-256 {content_sha256}", invariant=True)
    width = A4[0] - doc.leftMargin - doc.rightMargin
    p, small = styles.cell, styles.cell_head
    story: list[Flowable] = [_Banner(width, styles, report_id, issued_at), Spacer(1, 6 * mm)]

    kind_zh, kind_en = KIND_NAMES[profile.holder_kind]
    area_zh, area_en = AREA_NAMES[profile.area]
    holder_rows = [
        [Paragraph("账户主体 Holder", small), Paragraph(f"<b>{_escape(profile.name)}</b>", p),
         Paragraph("类型 Kind", small), Paragraph(f"{kind_zh} {kind_en}", p)],
        [Paragraph("统一社会信用代码 USCC", small), Paragraph(profile.unified_social_credit_code or "—", p),
         Paragraph("行业 Industry (GB/T 4754)", small), Paragraph(profile.industry_code or "—", p)],
        [Paragraph("区域 Region", small), Paragraph(_escape(profile.region_code), p),
         Paragraph("账户领域 Area", small), Paragraph(f"{area_zh} {area_en}", p)],
        [Paragraph("报告期 Period", small),
         Paragraph(f"{profile.period_start.isoformat()} — {profile.period_end.isoformat()}", p),
         Paragraph("账户编号 Holder id", small), Paragraph(str(profile.holder_id), p)],
    ]
    story.append(_table(holder_rows, [0.2 * width, 0.32 * width, 0.2 * width, 0.28 * width], header=False,
                        zebra=False))

    story.append(Paragraph("评价结果 Evaluation", styles.heading))
    label = profile.label.outcome if profile.label else None
    label_text = (f"{LABEL_NAMES[label][0]} {LABEL_NAMES[label][1]}" if label in LABEL_NAMES
                  else (label or "未评价"))
    grade = profile.carbon_efficiency.outcome if profile.carbon_efficiency else ""
    rating = profile.credit_rating.outcome if profile.credit_rating else ""
    evaluation_rows = [
        [Paragraph("四色标签 Four-colour label", small), Paragraph("碳效等级 Carbon-efficiency grade", small),
         Paragraph("碳信用评级 Carbon credit rating", small)],
        [[_label_swatch(label, font.name), Spacer(1, 2), Paragraph(label_text, p)],
         _evaluation_cell(profile.carbon_efficiency, styles, f"{grade} 级 grade {grade}"),
         _evaluation_cell(profile.credit_rating, styles, rating)],
    ]
    story.append(_table(evaluation_rows, [width / 3] * 3, zebra=False))
    story.append(Spacer(1, 3))
    story += _reasons("标签依据 Why this label", profile.label, styles)
    story += _reasons("碳效等级依据 Why this grade", profile.carbon_efficiency, styles)
    story += _reasons("评级依据 Why this rating", profile.credit_rating, styles)

    story.append(Paragraph("排放 Emissions (tCO2e)", styles.heading))
    scopes = profile.emissions_by_scope_kg
    emission_rows = [
        [Paragraph("项目 Item", small), Paragraph("tCO2e", small)],
        [Paragraph("<b>排放总量 Total (scope 1 + scope 2, after green electricity)</b>", p),
         Paragraph(f"<b>{tonnes(profile.emissions_kg)}</b>", p)],
        [Paragraph("范围一 直接排放 Scope 1 (direct)", p), Paragraph(tonnes(scopes.get("scope1", 0)), p)],
        [Paragraph("范围二 外购电力与热力 Scope 2 (purchased electricity, heat)", p),
         Paragraph(tonnes(scopes.get("scope2", 0)), p)],
        [Paragraph("已扣除绿色电力 Green electricity deducted", p),
         Paragraph(tonnes(profile.green_electricity_deducted_kg), p)],
        [Paragraph("另列：已注销碳减排量（未抵扣排放）Retired offsets, shown apart, not netted", p),
         Paragraph(tonnes(profile.retired_offsets_kg), p)],
    ]
    area_rows = [[Paragraph("领域 Area", small), Paragraph("tCO2e", small), Paragraph("占比 Share", small)]]
    for area in AREAS:
        kg = profile.emissions_by_area_kg.get(area, 0)
        if kg or area == profile.area:
            share = exact(Fraction(100 * kg, profile.emissions_kg), 1) + " %" if profile.emissions_kg else "—"
            area_rows.append([Paragraph(" ".join(AREA_NAMES[area]), p), Paragraph(tonnes(kg), p),
                              Paragraph(share, p)])
    side = Table([[_table(emission_rows, [0.42 * width, 0.14 * width]),
                   _table(area_rows, [0.18 * width, 0.12 * width, 0.1 * width])]],
                 colWidths=[0.58 * width, 0.42 * width], hAlign="LEFT")
    side.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(side)

    story.append(Paragraph("排放强度与行业基准 Intensity against the benchmark", styles.heading))
    ratio = (profile.intensity_per_value_added / profile.benchmark_intensity
             if profile.intensity_per_value_added is not None and profile.benchmark_intensity else None)
    intensity_rows = [
        [Paragraph("指标 Indicator", small), Paragraph("本主体 Holder", small),
         Paragraph("行业基准 Benchmark", small), Paragraph("比值 Ratio", small)],
        [Paragraph("单位增加值排放 per value added (tCO2e / 万元 10k yuan)", p),
         Paragraph(exact(profile.intensity_per_value_added), p), Paragraph(exact(profile.benchmark_intensity), p),
         Paragraph(exact(ratio, 3), p)],
        [Paragraph("单位产值排放 per output value (tCO2e / 万元 10k yuan)", p),
         Paragraph(exact(profile.intensity_per_output_value), p), Paragraph("—", p), Paragraph("—", p)],
        [Paragraph("增加值 Value added (万元 10k yuan)", p), Paragraph(exact(profile.value_added_10k_yuan, 2), p),
         Paragraph("", p), Paragraph("", p)],
        [Paragraph("产值 Output value (万元 10k yuan)", p), Paragraph(exact(profile.output_value_10k_yuan, 2), p),
         Paragraph("", p), Paragraph("", p)],
    ]
    story.append(_table(intensity_rows, [0.46 * width, 0.18 * width, 0.2 * width, 0.16 * width]))
    story.append(Paragraph(f"基准来源 Benchmark source: {_escape(profile.benchmark_source or '—')}", styles.small))

    story.append(KeepTogether([Paragraph("月度排放 Monthly emissions", styles.heading),
                               _monthly_chart(profile, width, font.name)]))

    quality = profile.data_quality
    story.append(Paragraph("数据质量说明 Data-quality statement", styles.heading))
    metered = exact(Fraction(100 * quality.metered_records, quality.records), 1) if quality.records else "—"
    statement = (
        f"本报告依据 {quality.records} 条能源记录核算，其中计量数据 {quality.metered_records} 条"
        f"（{metered} %），申报数据 {quality.declared_records} 条；报告期 {quality.months_in_period} 个月中"
        f" {quality.months_covered} 个月有记录。"
        f"<br/>Accounted from {quality.records} energy records: {quality.metered_records} metered ({metered} %), "
        f"{quality.declared_records} declared; {quality.months_covered} of the period's "
        f"{quality.months_in_period} months have records."
    )
    story.append(Paragraph(statement, styles.body))
    for note in quality.notes:
        story.append(Paragraph(f"· {_escape(note)}", styles.small))

    story.append(Paragraph("所用因子及来源 Factors used and their sources", styles.heading))
    factor_rows: list[list[object]] = [[Paragraph(h, small) for h in
                                        ("因子 Factor", "数值 Value", "单位 Unit", "来源 Source", "标记 Tag")]]
    for factor in profile.factors:
        factor_rows.append([Paragraph(_escape(factor.name), p), Paragraph(decimal(factor.value), p),
                            Paragraph(_escape(factor.unit), p), Paragraph(_escape(factor.source), styles.small),
                            Paragraph(TAG_NAMES.get(factor.tag, factor.tag), styles.small)])
    if not profile.factors:
        factor_rows.append([Paragraph("—", p), "", "", "", ""])
    story.append(_table(factor_rows, [0.22 * width, 0.12 * width, 0.13 * width, 0.38 * width, 0.15 * width]))

    qr_size = 30 * mm
    verify_text = Paragraph(
        "扫描二维码或访问下方地址，查看本报告的公开核验信息（主体名称、报告期、标签、等级、出具时间与哈希值）。"
        f"本文件附带其内容的规范 JSON（附件 {CONTENT_ATTACHMENT}），其 SHA-256 应与核验页一致。<br/>"
        "Scan the code or open the address to see this report's public record (holder, period, label, grade, "
        f"issue time and hash). This PDF carries the canonical JSON of its content as the attachment "
        f"{CONTENT_ATTACHMENT}; its SHA-256 must equal the hash below and on that page.<br/>"
        f"<font size=7.6><b>SHA-256 {content_sha256}</b></font><br/><font size=7>{_escape(verify_url)}</font>",
        styles.body)
    box = Table([[_qr(verify_url, qr_size), verify_text]], colWidths=[qr_size + 6 * mm, width - qr_size - 6 * mm],
                hAlign="LEFT")
    box.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("BOX", (0, 0), (-1, -1), 0.6, RULE),
                             ("BACKGROUND", (0, 0), (-1, -1), PALE)]))
    story.append(KeepTogether([Paragraph("核验 Verification", styles.heading), box,
                               Spacer(1, 2),
                               Paragraph(f"字体 Font: {_escape(font.origin)}", styles.small)]))

    page = _on_page(font, verify_url, content_sha256)
    doc.build(story, onFirstPage=page, onLaterPages=page)
    return _attach(buffer.getvalue(), content)


def _attach(pdf: bytes, content: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(CONTENT_ATTACHMENT, content.encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_text(pdf: bytes) -> str:
    """The text of every page, as a reader extracts it."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def stated_verification_url(text: str) -> str | None:
    """The verification address a report's footer states."""
    found = re.search(r"核验 Verify: (\S+)", text)
    return found.group(1) if found else None


def attached_content(pdf: bytes) -> str | None:
    """The canonical content JSON a report PDF carries, or None when it carries none."""
    reader = PdfReader(io.BytesIO(pdf))
    found = reader.attachments.get(CONTENT_ATTACHMENT)
    return found[0].decode("utf-8") if found else None


def verification_url(public_url: str, row: RowMapping) -> str:
    """The public verification page a report's QR code points to, with the report's verification code."""
    return f"{public_url.rstrip('/')}/api/v1/public/credit-reports/{row['id']}?code={row['verification_code']}"


def stored_report_pdf(row: RowMapping, public_url: str) -> bytes:
    """The PDF of an issued report, rendered from its stored content (checked against its hash first)."""
    profile, issued_at = stored_profile(row)
    return render_pdf(profile, issued_at=issued_at, report_id=row["id"], content_sha256=row["content_sha256"],
                      content=row["content"], verify_url=verification_url(public_url, row))
