from kefu.config import RetrievalSettings
from kefu.retrieval.hybrid import Retriever
from kefu.retrieval.spelling import Speller
from kefu.types import Entry

SHOP = {e.id: e for e in (
    Entry("warranty", "How long is the warranty?",
          "Two years; keep the receipt. Does not cover wear.", "en"),
    Entry("mould", "My tent smells of mould", "Dry it fully so that it keeps.", "en",
          alt_questions=("Mould on the fly sheet",)),
    Entry("pay", "Can I pay with PayPal?", "Yes, PayPal is accepted.", "en"),
)}


def test_a_misspelt_word_is_read_as_the_shops_word_one_letter_away():
    spell = Speller(SHOP)
    assert spell("is the warrenty still valid?") == "is the warranty still valid?"  # changed
    assert spell("I lost my reciept") == "I lost my receipt"  # two letters swapped
    assert spell("paypall ok?") == "paypal ok?"  # one letter too many
    assert spell("does it smell of mold") == "does it smell of mold"  # a dictionary word


def test_real_words_short_words_and_words_the_shop_never_uses_stay_as_typed():
    spell = Speller(SHOP)
    assert spell("Would you ship it?") == "Would you ship it?"  # "mould" is one letter away
    assert spell("is the tnet ok") == "is the tnet ok"  # four letters: too many neighbours
    assert spell("my bycicle broke") == "my bycicle broke"  # the shop never says bicycle
    assert spell("保修多久 warrenty?") == "保修多久 warranty?"  # inside Chinese too
    assert spell("it doesn't work") == "it doesn't work"  # not "doesn" one from "does"
    assert spell("thats all") == "thats all"  # a known word's possessive, not "that"
    curly = Speller({"c": Entry("c", "Is the Pinecone’s tent dry?", "Yes.", "en")})
    assert curly("Pinecone's tent") == "Pinecone's tent"  # the shop's word, apostrophe aside


def test_a_question_with_typos_finds_its_entry_by_the_shops_words(tiny_kb):
    question = "Wich paymnet methods do you acept?"

    def bm25_of_payment(hits):
        return next((h.bm25 for h in hits if h.entry.id == "t-en-pay"), 0.0)

    spelled = Retriever(tiny_kb, RetrievalSettings()).search(question)
    as_typed = Retriever(tiny_kb, RetrievalSettings(correct_typos=False)).search(question)
    assert spelled[0].entry.id == "t-en-pay"
    assert bm25_of_payment(spelled) > bm25_of_payment(as_typed)  # "payment", "accept" match
