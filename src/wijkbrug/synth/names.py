"""Name lists for synthetic residents and staff: invented combinations, no real persons.

Each background lists one or more scripts. A script has female and male given names and family
names; a family name is either one form or a ``(male, female)`` pair (Polish). ``order`` says how
a full name is written: ``"gf"`` given + family, ``"fg"`` family + given, ``"fg-"`` family and
given without a space (Han).
"""

from __future__ import annotations

from dataclasses import dataclass

FamilyName = str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class Script:
    """Names of one background written in one script."""

    given_f: tuple[str, ...]
    given_m: tuple[str, ...]
    family: tuple[FamilyName, ...]
    order: str = "gf"


@dataclass(frozen=True, slots=True)
class Background:
    """A household background: how common it is, its scripts, its preferred languages."""

    key: str
    weight: int
    #: (script, weight)
    scripts: tuple[tuple[Script, int], ...]
    #: (ISO 639-1 code, weight) of the preferred language.
    languages: tuple[tuple[str, int], ...]
    #: Chance that the visitor records a preferred language at all.
    language_recorded: float


_DUTCH = Script(
    given_f=(
        "Anja",
        "Marieke",
        "Ingrid",
        "Sandra",
        "Els",
        "Kim",
        "Linda",
        "Wilma",
        "Femke",
        "Joke",
        "Tineke",
        "Sanne",
        "Ria",
        "Monique",
    ),
    given_m=(
        "Jan",
        "Kees",
        "Peter",
        "Henk",
        "Mark",
        "Dennis",
        "Gerrit",
        "Ruud",
        "Bas",
        "Wim",
        "Sjaak",
        "Theo",
        "Arie",
        "Rob",
    ),
    family=(
        "de Vries",
        "Jansen",
        "van Dijk",
        "Bakker",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
        "Hendriks",
        "van Leeuwen",
        "Dekker",
        "Brouwer",
        "van der Linden",
        "Verhoef",
        "Kok",
        "van 't Hof",
        "Schouten",
    ),
)
_SURINAMESE = Script(
    given_f=("Sharmila", "Priya", "Romana", "Xiomara", "Chandra", "Marlène"),
    given_m=("Ravi", "Roy", "Ricardo", "Glenn", "Anand", "Errol"),
    family=(
        "Ramdin",
        "Sewdien",
        "Kromodimedjo",
        "Pinas",
        "Bhagwandin",
        "Linger",
        "Amatsaleh",
        "Tjon-A-Fong",
        "Doelwijt",
    ),
)
_MOROCCAN_LATIN = Script(
    given_f=(
        "Fatima",
        "Khadija",
        "Naima",
        "Meryem",
        "Hanane",
        "Samira",
        "Ilham",
        "Zineb",
        "Malika",
        "Soukaina",
    ),
    given_m=(
        "Mohamed",
        "Youssef",
        "Abdelkader",
        "Said",
        "Rachid",
        "Karim",
        "Hamza",
        "Soufiane",
        "Mustapha",
        "Bilal",
    ),
    family=(
        "El Amrani",
        "Bouzid",
        "El Haddad",
        "Idrissi",
        "Benali",
        "Azzouz",
        "Ouali",
        "Amziane",
        "El Khatib",
        "Chaouch",
        "Bakkali",
        "Tahiri",
        "Boukhari",
        "Ait Lahcen",
    ),
)
_MOROCCAN_ARABIC = Script(
    given_f=("فاطمة", "خديجة", "نعيمة", "مريم", "حنان", "سميرة"),
    given_m=("محمد", "يوسف", "عبد القادر", "سعيد", "رشيد", "كريم"),
    family=("العمراني", "بوزيد", "الحداد", "الإدريسي", "بنعلي", "التازي", "أمزيان", "البقالي"),
)
_TURKISH = Script(
    given_f=("Ayşe", "Fatma", "Emine", "Zeynep", "Elif", "Gülsüm", "Özlem", "Hatice", "Şeyma"),
    given_m=("Mehmet", "Mustafa", "Hüseyin", "Murat", "Hasan", "İbrahim", "Şükrü", "Ahmet", "Oğuz"),
    family=(
        "Yılmaz",
        "Kaya",
        "Demir",
        "Şahin",
        "Çelik",
        "Yıldız",
        "Aydın",
        "Öztürk",
        "Arslan",
        "Doğan",
        "Kılıç",
        "Aslan",
        "Çetin",
        "Koç",
    ),
)
_SYRIAN_ARABIC = Script(
    given_f=("ريم", "لينا", "هبة", "سارة", "رنا"),
    given_m=("أحمد", "عمر", "خالد", "محمود", "باسل"),
    family=("الخطيب", "الحلبي", "الأحمد", "الشامي", "العلي", "حداد", "النجار"),
)
_SYRIAN_LATIN = Script(
    given_f=("Rim", "Lina", "Heba", "Sara", "Rana"),
    given_m=("Ahmad", "Omar", "Khaled", "Mahmoud", "Basel"),
    family=("Al-Khatib", "Halabi", "Alahmad", "Shami", "Al-Ali", "Haddad", "Najjar"),
)
_SOMALI = Script(
    given_f=("Hodan", "Amina", "Sahra", "Faadumo", "Ayaan", "Hibo", "Ifrah"),
    given_m=("Abdi", "Mohamed", "Farah", "Hassan", "Liban", "Yusuf", "Guled"),
    family=(
        "Abdullahi",
        "Warsame",
        "Farah",
        "Hassan",
        "Jama",
        "Osman",
        "Ahmed",
        "Mohamud",
        "Nur",
        "Egal",
        "Dirie",
    ),
)
_ERITREAN_LATIN = Script(
    given_f=("Selam", "Saba", "Helen", "Senait", "Luwam", "Rahwa"),
    given_m=("Yonas", "Ermias", "Filmon", "Biniam", "Mebrahtu", "Tesfay"),
    family=("Tesfamariam", "Gebremedhin", "Haile", "Kidane", "Tekle", "Berhe", "Woldu", "Habte"),
)
_ERITREAN_GEEZ = Script(
    given_f=("ሰላም", "ሳባ", "ሄለን", "ሰናይት", "ሉዋም", "ራሕዋ"),
    given_m=("ዮናስ", "ኤርምያስ", "ፊልሞን", "ቢንያም", "መብራህቱ", "ተስፋይ"),
    family=("ተስፋማርያም", "ገብረመድህን", "ሃይለ", "ኪዳነ", "ተኽለ", "በርሀ", "ወልዱ", "ሃብተ"),
)
_POLISH = Script(
    given_f=("Agnieszka", "Małgorzata", "Katarzyna", "Joanna", "Zofia", "Ewa", "Beata"),
    given_m=("Paweł", "Krzysztof", "Łukasz", "Tomasz", "Grzegorz", "Michał", "Piotr"),
    family=(
        ("Kowalski", "Kowalska"),
        ("Wiśniewski", "Wiśniewska"),
        ("Kamiński", "Kamińska"),
        ("Lewandowski", "Lewandowska"),
        ("Zieliński", "Zielińska"),
        ("Szymański", "Szymańska"),
        ("Dąbrowski", "Dąbrowska"),
        ("Kozłowski", "Kozłowska"),
        "Nowak",
        "Wójcik",
        "Woźniak",
        "Mazur",
        "Krawczyk",
    ),
)
_UKRAINIAN_CYRILLIC = Script(
    given_f=("Олена", "Наталія", "Ірина", "Оксана", "Тетяна", "Світлана"),
    given_m=("Андрій", "Олександр", "Дмитро", "Сергій", "Богдан", "Микола"),
    family=(
        "Коваленко",
        "Шевченко",
        "Бондаренко",
        "Ткаченко",
        "Кравченко",
        "Мельник",
        "Бойко",
        "Ковальчук",
    ),
)
_UKRAINIAN_LATIN = Script(
    given_f=("Olena", "Nataliia", "Iryna", "Oksana", "Tetiana", "Svitlana"),
    given_m=("Andrii", "Oleksandr", "Dmytro", "Serhii", "Bohdan", "Mykola"),
    family=(
        "Kovalenko",
        "Shevchenko",
        "Bondarenko",
        "Tkachenko",
        "Kravchenko",
        "Melnyk",
        "Boiko",
        "Kovalchuk",
    ),
)
_CHINESE_HAN = Script(
    given_f=("芳", "秀英", "敏", "静", "丽", "婷"),
    given_m=("伟", "磊", "强", "洋", "军", "杰"),
    family=("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"),
    order="fg-",
)
_CHINESE_LATIN = Script(
    given_f=("Fang", "Xiuying", "Min", "Jing", "Li", "Ting"),
    given_m=("Wei", "Lei", "Qiang", "Yang", "Jun", "Jie"),
    family=("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"),
    order="fg",
)
_AFGHAN_PERSIAN = Script(
    given_f=("زهرا", "مریم", "شبنم", "فرشته"),
    given_m=("فرید", "حمید", "نصیر", "جاوید"),
    family=("احمدی", "حسینی", "رحیمی", "کریمی", "نوری", "صدیقی"),
)
_AFGHAN_LATIN = Script(
    given_f=("Zahra", "Maryam", "Shabnam", "Fereshteh"),
    given_m=("Farid", "Hamid", "Nasir", "Javid"),
    family=("Ahmadi", "Hosseini", "Rahimi", "Karimi", "Nouri", "Sediqi"),
)
_SPANISH = Script(
    given_f=("María", "Lucía", "Carmen", "Gabriela", "Ana"),
    given_m=("José", "Carlos", "Diego", "Andrés", "Luis"),
    family=("García", "Rodríguez", "Martínez", "López", "Hernández", "Pérez"),
)
_GHANAIAN = Script(
    given_f=("Abena", "Akosua", "Grace", "Blessing", "Efua"),
    given_m=("Kwame", "Kofi", "Emmanuel", "Samuel", "Yaw"),
    family=("Mensah", "Owusu", "Boateng", "Asante", "Adjei", "Appiah"),
)

BACKGROUNDS: tuple[Background, ...] = (
    Background("nederlands", 28, ((_DUTCH, 1),), (("nl", 1),), 0.35),
    Background("surinaams", 6, ((_SURINAMESE, 1),), (("nl", 1),), 0.35),
    Background(
        "marokkaans",
        20,
        ((_MOROCCAN_LATIN, 3), (_MOROCCAN_ARABIC, 1)),
        (("nl", 5), ("ar", 5)),
        0.75,
    ),
    Background("turks", 14, ((_TURKISH, 1),), (("tr", 11), ("nl", 9)), 0.75),
    Background(
        "syrisch", 5, ((_SYRIAN_ARABIC, 1), (_SYRIAN_LATIN, 1)), (("ar", 9), ("en", 1)), 0.9
    ),
    Background("somalisch", 5, ((_SOMALI, 1),), (("so", 6), ("nl", 3), ("en", 1)), 0.85),
    Background(
        "eritrees", 4, ((_ERITREAN_LATIN, 1), (_ERITREAN_GEEZ, 1)), (("ti", 9), ("en", 1)), 0.9
    ),
    Background("pools", 5, ((_POLISH, 1),), (("pl", 7), ("nl", 2), ("en", 1)), 0.85),
    Background(
        "oekraiens",
        4,
        ((_UKRAINIAN_CYRILLIC, 3), (_UKRAINIAN_LATIN, 2)),
        (("uk", 8), ("en", 2)),
        0.9,
    ),
    Background(
        "chinees", 3, ((_CHINESE_HAN, 3), (_CHINESE_LATIN, 2)), (("zh", 7), ("nl", 3)), 0.85
    ),
    Background("afghaans", 4, ((_AFGHAN_PERSIAN, 2), (_AFGHAN_LATIN, 3)), (("fa", 1),), 0.9),
    Background("spaanstalig", 2, ((_SPANISH, 1),), (("es", 7), ("nl", 3)), 0.8),
    Background("ghanees", 3, ((_GHANAIAN, 1),), (("en", 8), ("nl", 2)), 0.8),
)

#: Wijkconsulenten of the corporation who do the home visits (invented names).
VISITORS: tuple[str, ...] = (
    "Sanne Verhoeven",
    "Jeroen Kuipers",
    "Esra Yıldırım",
    "Mounir Ait Bouchta",
    "Petra van Wijk",
    "Daan Hoogendoorn",
)
