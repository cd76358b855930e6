"""WordPress shortcodes left raw in syndicated HTML (`ingest.shortcodes`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.shortcodes import expand


def test_caption_becomes_a_figure_with_its_caption():
    source = ('<p>Intro.</p>[caption id="attachment_7" align="alignnone" width="300"]'
              '<a href="https://news.example/full.jpg"><img src="https://news.example/a.jpg" alt=""></a>'
              ' Minsk at night[/caption]<p>More.</p>')
    out, notes = expand(source)
    assert out == ('<p>Intro.</p><figure><a href="https://news.example/full.jpg"><img src="https://news.example/a.jpg" '
                   'alt=""></a><figcaption>Minsk at night</figcaption></figure><p>More.</p>')
    assert notes == ["shortcode: [caption]"]


def test_old_style_caption_attribute():
    out, _ = expand('[caption id="a" caption="Harbour, 1910"]<img src="h.jpg">[/caption]')
    assert out == '<figure><img src="h.jpg"><figcaption>Harbour, 1910</figcaption></figure>'


def test_page_builder_wrappers_go_and_their_content_stays():
    source = ('[vc_row][vc_column width="1/2"][vc_column_text]<p>The council met on Monday.</p>'
              '[/vc_column_text][/vc_column][/vc_row][et_pb_section fb_built="1"]<p>Budget.</p>[/et_pb_section]')
    out, notes = expand(source)
    assert out == "<p>The council met on Monday.</p><p>Budget.</p>"
    assert "shortcode: [vc_row]" in notes and "shortcode: [/et_pb_section]" in notes


def test_plugin_blocks_go_with_their_content():
    out, notes = expand('<p>Photos:</p>[gallery ids="4,5,6"] [contact-form-7 id="12" title="Contact"]'
                        '[audio mp3="x.mp3"][/audio]<p>End.</p>')
    assert out == "<p>Photos:</p> <p>End.</p>"
    assert sorted(notes) == ["shortcode: [audio]", "shortcode: [contact-form-7]", "shortcode: [gallery]"]


def test_embed_becomes_a_link():
    out, _ = expand("<p>Watch:</p>[embed]https://video.example/watch?v=1&amp;t=2[/embed]")
    assert out == '<p>Watch:</p><a href="https://video.example/watch?v=1&amp;t=2">https://video.example/watch?v=1&amp;t=2</a>'


def test_bracketed_text_is_left_alone():
    for text in ("<p>He said [sic] twice [1].</p>", "<p>[Updated] The [TOC] and [Table] stay.</p>",
                 "<p>[Update: 5 pm] Roads reopened.</p>", "<p>Lists [a, b] and [x](y)</p>"):
        assert expand(text) == (text, [])


def test_escaped_shortcodes_and_code_are_untouched():
    source = "<p>Type [[gallery]] to show photos.</p><pre>[vc_row]</pre><code>[caption]x[/caption]</code>"
    out, notes = expand(source)
    assert out == source
    assert notes == []


@given(st.text(alphabet="[]/abcvg_ =\"'<>p", max_size=80))
def test_never_raises_and_a_second_pass_changes_nothing(text):
    out, _ = expand(text)
    assert expand(out) == (out, [])


def test_the_cleaner_turns_a_syndicated_caption_into_a_figure_and_notes_the_builder_litter():
    from ingest.clean import clean_html

    source = ('[vc_row][vc_column][vc_column_text]<p>The bridge reopened on Monday after two years of repairs.</p>'
              '[caption id="attachment_9" width="640"]<img src="/wp-content/uploads/bridge.jpg" alt="Bridge"> '
              'The new bridge at dawn[/caption][/vc_column_text][/vc_column][/vc_row]<p>Powered by WPeMatico</p>')
    result = clean_html(source, base_url="https://news.example/2026/bridge/")
    assert "[" not in result.html and "WPeMatico" not in result.html
    assert "<figure>" in result.html and "<figcaption>The new bridge at dawn</figcaption>" in result.html
    assert 'src="https://news.example/wp-content/uploads/bridge.jpg"' in result.html
    assert "shortcode: [vc_row]" in result.litter and "shortcode: [caption]" in result.litter
